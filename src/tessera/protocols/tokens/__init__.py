"""Anonymous tokens: RSA blind signatures (RFC 9474), Privacy Pass framing (RFC 9577/9578),
issuer key encodings and the spent-token Bloom filter (`sha256-km-v1`)."""
