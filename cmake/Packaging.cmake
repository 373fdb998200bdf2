# Debian packages (CPack, DEB generator): `feitpd` (the daemon, its configuration, systemd unit,
# man pages, logrotate and fail2ban files) and `libfeitp-dev` (headers, static library, CMake
# package, feitp.pc). scripts/package.sh makes both from a release build into build/packages/.
#
# Included only with -DFEITP_PACKAGE=ON (scripts/package.sh): the rules below install to fixed
# system paths (/etc, /lib/systemd), which a `cmake --install --prefix DIR` of an ordinary build
# must never touch. The man pages need go-md2man (FEITP_MAN: AUTO = when found, ON = required).

set(FEITP_MAN AUTO CACHE STRING "Build the man pages with go-md2man: AUTO, ON or OFF")
set_property(CACHE FEITP_MAN PROPERTY STRINGS AUTO ON OFF)
set(_pkg ${PROJECT_SOURCE_DIR}/packaging)

# --- the daemon's files ---------------------------------------------------------------------
# Absolute destinations: these paths are fixed by Debian, whatever CMAKE_INSTALL_PREFIX is.
# 0644 in the package; the postinst makes it root:feitpd 0640 (it will hold password hashes).
install(FILES ${_pkg}/deb/feitpd.toml DESTINATION /etc/feitpd COMPONENT daemon)
install(FILES ${_pkg}/feitpd.service DESTINATION /lib/systemd/system COMPONENT daemon)
install(FILES ${_pkg}/deb/feitpd.logrotate DESTINATION /etc/logrotate.d RENAME feitpd
  COMPONENT daemon)
install(FILES ${_pkg}/fail2ban/filter.d/feitpd.conf DESTINATION /etc/fail2ban/filter.d
  COMPONENT daemon)
install(FILES ${_pkg}/fail2ban/jail.d/feitpd.conf DESTINATION share/doc/feitpd/examples
  RENAME fail2ban-jail-feitpd.conf COMPONENT daemon)
install(FILES ${_pkg}/feitpd.toml DESTINATION share/doc/feitpd/examples
  RENAME feitpd-reference.toml COMPONENT daemon)
install(FILES ${_pkg}/deb/copyright DESTINATION share/doc/feitpd COMPONENT daemon)
install(FILES ${_pkg}/deb/copyright DESTINATION share/doc/libfeitp-dev COMPONENT dev)
# changelog.Debian.gz, as Debian policy wants one per package (gzip -n: the same bytes each build)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/changelog.Debian.gz
  COMMAND gzip -9nc ${_pkg}/deb/changelog > ${PROJECT_BINARY_DIR}/changelog.Debian.gz
  DEPENDS ${_pkg}/deb/changelog VERBATIM)
add_custom_target(feitp_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/changelog.Debian.gz)
install(FILES ${PROJECT_BINARY_DIR}/changelog.Debian.gz DESTINATION share/doc/feitpd COMPONENT daemon)
install(FILES ${PROJECT_BINARY_DIR}/changelog.Debian.gz DESTINATION share/doc/libfeitp-dev
  COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/configuration.md
  ${PROJECT_SOURCE_DIR}/docs/security.md ${PROJECT_SOURCE_DIR}/docs/architecture.md
  ${PROJECT_SOURCE_DIR}/docs/protocol.md DESTINATION share/doc/feitpd COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/docs/embedding.md DESTINATION share/doc/libfeitp-dev
  COMPONENT dev)

# --- man pages: markdown under docs/man/ (feitpd.toml(5) takes docs/configuration.md whole) ---
if(NOT FEITP_MAN STREQUAL "OFF")
  find_program(GO_MD2MAN go-md2man)
  if(NOT GO_MD2MAN AND FEITP_MAN STREQUAL "ON")
    message(FATAL_ERROR "FEITP_MAN=ON needs go-md2man (apt-get install go-md2man)")
  endif()
endif()
if(GO_MD2MAN AND NOT FEITP_MAN STREQUAL "OFF")
  set(_man ${PROJECT_BINARY_DIR}/man)
  set(_gen ${PROJECT_SOURCE_DIR}/docs/man/make-man.py)
  add_custom_command(OUTPUT ${_man}/feitpd.8.gz
    COMMAND ${_gen} ${GO_MD2MAN} ${_man}/feitpd.8.gz ${PROJECT_VERSION}
            ${PROJECT_SOURCE_DIR}/docs/man/feitpd.8.md
    DEPENDS ${_gen} ${PROJECT_SOURCE_DIR}/docs/man/feitpd.8.md
    COMMENT "man page feitpd(8)" VERBATIM)
  add_custom_command(OUTPUT ${_man}/feitpd.toml.5.gz
    COMMAND ${_gen} ${GO_MD2MAN} ${_man}/feitpd.toml.5.gz ${PROJECT_VERSION}
            ${PROJECT_SOURCE_DIR}/docs/man/feitpd.toml.5.md
    DEPENDS ${_gen} ${PROJECT_SOURCE_DIR}/docs/man/feitpd.toml.5.md
            ${PROJECT_SOURCE_DIR}/docs/configuration.md
    COMMENT "man page feitpd.toml(5)" VERBATIM)
  add_custom_target(feitp_man ALL DEPENDS ${_man}/feitpd.8.gz ${_man}/feitpd.toml.5.gz)
  install(FILES ${_man}/feitpd.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT daemon)
  install(FILES ${_man}/feitpd.toml.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 COMPONENT daemon)
endif()

# --- CPack ----------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME feitp)
set(CPACK_PACKAGE_VENDOR "feitp")
set(CPACK_PACKAGE_CONTACT "feitp maintainers <feitp@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

# Depends of the daemon from the libraries it links (dpkg-shlibdeps, from dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME feitpd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION net)
# procps: /bin/kill of the unit's ExecReload (not in the smallest Debian roots).
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_DAEMON_PACKAGE_SUGGESTS "fail2ban, logrotate")
set(CPACK_DEBIAN_DAEMON_PACKAGE_PROVIDES "ftp-server")
set(CPACK_COMPONENT_DAEMON_DESCRIPTION "FTP server for Linux (daemon)
feitpd serves FTP from a master process and one worker per core; the
workers hold no capabilities and run under a seccomp filter. This package
holds the daemon, a configuration in /etc/feitpd/feitpd.toml with no users
and no anonymous login, a hardened systemd unit, man pages, a logrotate
file and a fail2ban filter.")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
  ${_pkg}/deb/conffiles ${_pkg}/deb/postinst ${_pkg}/deb/prerm ${_pkg}/deb/postrm)
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libfeitp-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# libfeitp is static: a program linking it needs these (feitp.pc's Requires, feitpConfig.cmake's
# find_dependency) at build time.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libfmt-dev, libspdlog-dev, libssl-dev, libcrypt-dev, zlib1g-dev, libsqlite3-dev, libpq-dev, libpam0g-dev, pkg-config")
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF)
set(CPACK_COMPONENT_DEV_DESCRIPTION "embeddable FTP server library (C++20, development files)
libfeitp is the library feitpd is built on: a static library, its
headers, a CMake package (find_package(feitp) gives feitp::feitp) and a
pkg-config file (feitp).")

include(CPack)
