"""The schema model both engines introspect into (`model`), when it is reloaded (`cache`), and the
introspection both engines share: SQL functions, row-level security, keys of views."""
