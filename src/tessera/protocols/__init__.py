"""Pure protocol code shared by the server and the clients: no database, no web framework, no
settings. A client machine installs these and `tessera.client` without the server's parts."""
