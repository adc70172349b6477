"""The benchmark harness behind ``python -m shanraq_core bench`` (docs/mainjob.md)."""
