"""Anonymous transit tickets by RSA blind signatures (seed 000)."""
