import { http } from './http'

export interface Instance {
  version: string
  /** The server holds the synthetic demo town. */
  demo: boolean
}

/** Public: what this server is (readable before sign-in). */
export function getInstance(): Promise<Instance> {
  return http.get('/api/v1/instance')
}
