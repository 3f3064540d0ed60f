"""Pure helpers shared by the core and the modules (money, …)."""
