"""The article and what every stage shares: the schemas, the errors, the one sentence splitter
(`segment`), text and file helpers. Imports nothing else of summarizer."""
