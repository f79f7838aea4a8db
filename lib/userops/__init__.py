"""userops: the retail user-operations playbook library."""

__version__ = "0.1.0"
