// GPU lease RPC payloads (cvp.gpu.lease.*). Owned by the lease work of issue #4.
export {};
