import { http } from './http'

export interface CityRef {
  id: string
  name: string
  code: string
}

export interface Town {
  id: string
  code: string
  short_code: string
  name: string
  city: CityRef
  /** [lon, lat] */
  center: [number, number]
  /** [min_lon, min_lat, max_lon, max_lat] */
  bbox: [number, number, number, number]
  is_demo: boolean
}

export function listTowns(): Promise<{ items: Town[] }> {
  return http.get('/api/v1/towns')
}
