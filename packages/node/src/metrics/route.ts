import { RawAnswer, type Route } from '../api/server.js'

/** `GET /metrics`: the exposition in Prometheus' text format. */
export function metricsRoute(metrics: { text(): Promise<string>; readonly contentType: string }): Route {
  return {
    method: 'GET',
    path: '/metrics',
    handle: async () => new RawAnswer(metrics.contentType, await metrics.text()),
  }
}
