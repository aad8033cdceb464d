/**
 * The mesh's counters, kept for whoever reads them (logs now, metrics later): totals since the
 * daemon started, never reset.
 */
export interface MeshStats {
  /** Connections accepted on published ports. */
  connections: number
  /** Connections that reached a slot. */
  forwarded: number
  /** Attempts to reach a slot that failed before anything was sent (each tried another slot). */
  connectFailures: number
  /** Connections closed unserved: no slot was ready, or every one failed. */
  unserved: number
  /** Connections open now, through this node's mesh. */
  open: number
  /** Times a published port could not be listened on because another process holds it. */
  portInUse: number
  /** DNS queries answered from workload names, forwarded to the host's resolvers, and failed. */
  dnsAnswered: number
  dnsForwarded: number
  dnsFailed: number
}

export function newMeshStats(): MeshStats {
  return {
    connections: 0,
    forwarded: 0,
    connectFailures: 0,
    unserved: 0,
    open: 0,
    portInUse: 0,
    dnsAnswered: 0,
    dnsForwarded: 0,
    dnsFailed: 0,
  }
}
