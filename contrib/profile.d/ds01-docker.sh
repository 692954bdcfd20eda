# ds01: the plain `docker` command of a user who is neither root nor in the docker group talks to
# ds01's Docker API endpoint, which shows and acts on that user's own ds01 containers only.
# Installed by `make install` as /etc/profile.d/ds01-docker.sh (login shells read it). A user
# who set DOCKER_HOST, or chose a docker context, keeps their choice.
ds01_docker_sock=/run/ds01/docker.sock
if [ -z "${DOCKER_HOST:-}" ] && [ -z "${DOCKER_CONTEXT:-}" ] && [ "$(id -u)" != 0 ] &&
	[ -S "$ds01_docker_sock" ]; then
	case " $(id -Gn 2>/dev/null) " in
	*" docker "*) ;; # the real socket is theirs already
	*)
		export DOCKER_HOST="unix://$ds01_docker_sock"
		# the endpoint builds as image-create does, with the classic builder
		[ -n "${DOCKER_BUILDKIT:-}" ] || export DOCKER_BUILDKIT=0
		;;
	esac
fi
unset ds01_docker_sock
