"""The model: settings, the openai + instructor client, the token budget, the embedded llama.cpp engine
(`engine`, `local`, `weights`), the response cache and prices. Imports only `core`."""
