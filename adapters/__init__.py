"""Built-in framework adapters (shipped as ``snninit_plugins.adapters``); each will be a pluggy plugin."""
