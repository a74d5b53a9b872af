"""mlipselect."""
