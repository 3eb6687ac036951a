# Sourced by the scripts that install Debian packages. On a fresh machine
# another apt may hold the package locks for a while (apt-daily's timers, an
# install still running): these wait for it instead of failing the run.
# `apt-get install` waits on the dpkg lock by itself when given a timeout;
# `apt-get update` does not wait on the lists lock, so it is tried again.
# SUDO, when set (to sudo), runs them as root.

APT_LOCK_WAIT=600 # seconds an install waits for the dpkg lock
APT_UPDATE_TRIES=60
APT_RETRY_SECONDS=10

apt_update() {
  local try=1
  until ${SUDO:-} apt-get -o DPkg::Lock::Timeout=$APT_LOCK_WAIT update -qq; do
    if [ $try -ge $APT_UPDATE_TRIES ]; then
      echo "apt: 'apt-get update' failed $try times; giving up" >&2
      return 1
    fi
    echo "apt: 'apt-get update' failed; trying again in $APT_RETRY_SECONDS s" >&2
    sleep $APT_RETRY_SECONDS
    try=$((try + 1))
  done
}

# apt_install PACKAGE...: no recommends, no questions.
apt_install() {
  ${SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$APT_LOCK_WAIT install -y -qq --no-install-recommends "$@"
}
