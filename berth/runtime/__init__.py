"""How workloads actually run (process, fake, container runtimes); filled by a later issue."""
