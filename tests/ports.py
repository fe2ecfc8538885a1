"""A free TCP port for each torchrun a test starts: fixed ports collide with a run a previous test
left shutting down, or with another test suite on the same machine."""

import socket


def free_port() -> int:
    """A port nothing listens on now (the OS picks it); torchrun's rendezvous binds it next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
