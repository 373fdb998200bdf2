// systemd readiness notification (Type=notify). No-op when NOTIFY_SOCKET is unset.
#pragma once

#include <string>

namespace feitp::runtime {

// state: "READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1", "STATUS=...".
void notify_systemd(const std::string& state);
// "RELOADING=1" with the MONOTONIC_USEC field systemd's Type=notify-reload expects.
void notify_reloading();

}  // namespace feitp::runtime
