"""ADE Workstation: the Textual app over `ade_engine`'s service layer."""
