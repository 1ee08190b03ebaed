"""The real-browser lab shared by the end-to-end tests, the network scenarios and the
benchmarks: ``jupyter`` (a JupyterLab server and kernel, Debian's Chromium driven by
Playwright with the fake camera, notebooks, kernel evaluation, browser-side peer and track
counters from ``counters.js``), ``video`` (opening views and reading their pixels, states
and leak counters), ``netlab`` (network namespaces, veth links, nftables rules, coturn)
and ``sockets`` (this process's open sockets, from /proc).

Tests import it as ``lab`` (pytest puts ``tests/`` on ``sys.path``); the benchmarks as
``tests.lab``. Everything here cleans up after itself: each process it starts is stopped
by its PID, each namespace and rule it makes is removed.
"""
