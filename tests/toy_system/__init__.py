"""A toy system, dropped into natpipe/systems/ by tests/test_adding_a_system.py: the whole of
what adding a system takes, for a trivial NAT variant."""
