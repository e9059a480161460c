"""What provider modules share: the SSRF-guarded HTTP client (``safehttp``), bounded
pages and cursors (``paging``) and the per-thread SDK client cache (``clients``)."""
