/*
** errmap.h — the one place LSM_* status codes become SQLite result codes.
*/
#ifndef LSMX_ERRMAP_H
#define LSMX_ERRMAP_H

int lsmx_rc_to_sqlite(int lsm_rc);

#endif
