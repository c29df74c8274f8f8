"""The kernel: errors, caller, ports and hooks. Imports stdlib and third-party only."""
