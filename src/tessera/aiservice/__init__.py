"""The reference AI scan service (`tessera ai-service`): its own small ASGI app and process.

It speaks the seed's contract (`GET /`, `POST /scan` with `file`, `text`, `force_llm`) so the
API's `riskscan` module can call it or any other service with that contract. Extraction
(`extract.py`, `ocr.py`), chunking (`chunks.py`), the local model (`model.py`, trained from
`data/risk_sentences.tsv`) and the LLM path (`llm.py`) are plain functions; `app.py` wires
them to HTTP. Nothing here imports the API or writes user text anywhere: a document lives in
memory for the length of its request.
"""
