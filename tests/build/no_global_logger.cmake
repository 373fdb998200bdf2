# libfeitp logs through the logger its embedder gives (Options::logger) or its own, never
# through spdlog's process-wide default or registry, which belong to the embedding program.
# Checked on the built library: none of its objects may refer to those functions.
# cmake -DNM=nm -DLIB=libfeitp.a -P no_global_logger.cmake
execute_process(COMMAND ${NM} -A -C --undefined-only ${LIB}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} ${LIB} failed: ${err}")
endif()
# The check can fail: the library does refer to spdlog's logger class.
if(NOT out MATCHES "spdlog::logger::")
  message(FATAL_ERROR "no reference to spdlog::logger in ${LIB}: is it the library?")
endif()
set(global "spdlog::(default_logger|default_logger_raw|set_default_logger|get|register_logger|drop|flush_every|set_level|set_pattern|details::registry::instance)\\(")
string(REGEX MATCHALL "[^\n]*${global}[^\n]*" hits "${out}")
if(hits)
  list(JOIN hits "\n" lines)
  message(FATAL_ERROR "libfeitp refers to spdlog's global logger state:\n${lines}")
endif()
message(STATUS "libfeitp refers to no global spdlog state")
