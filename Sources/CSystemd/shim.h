#ifndef ECHO_CSYSTEMD_SHIM_H
#define ECHO_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
