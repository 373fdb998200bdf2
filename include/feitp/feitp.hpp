// feitp: everything an embedding program needs.
#pragma once

#include "feitp/auth.hpp"
#include "feitp/cluster.hpp"
#include "feitp/hooks.hpp"
#include "feitp/limits.hpp"
#include "feitp/options.hpp"
#include "feitp/result.hpp"
#include "feitp/server.hpp"
#include "feitp/storage.hpp"
