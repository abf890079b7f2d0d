pub use windlass_host_api as plugins;
