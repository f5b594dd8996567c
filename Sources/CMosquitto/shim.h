#ifndef GATEWAY_CMOSQUITTO_SHIM_H
#define GATEWAY_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
