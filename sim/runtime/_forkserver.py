"""Imported first by the fork server of the local worker pool (and nowhere
else; see :data:`sim.runtime.parallel.PRELOAD`).

The fork server and the workers it forks ignore SIGINT: a Ctrl-C at a
terminal reaches every process of the group, and the shutdown is the
driver's to make (it stops the workers itself).  The server is started with
SIGINT already ignored when the driver can arrange it (from its main
thread); this covers a server started from another thread.  Workers inherit
the setting from the server."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
