"""The admin page's tabs, one module each, named as their states in state/admin/."""
