import { MAX_SECRET_BYTES, RegistryHostSchema, SecretNameSchema } from '@gary/protocol'
import { z } from 'zod'
import { SecretInUseError, SecretsNeedClusterKeyError, SecretTooLargeError } from '../secrets/keeper.js'
import { isoTime } from './iso-time.js'
import { type ClusterApi, durable, parse, refuseWrites } from './routes.js'
import { ApiRequestError, type Route } from './server.js'

const SecretBody = z.strictObject({
  name: SecretNameSchema,
  /** The value, base64: a secret may be any bytes. */
  value: z
    .base64()
    .max(Math.ceil((MAX_SECRET_BYTES * 4) / 3) + 4, `a secret holds at most ${MAX_SECRET_BYTES} bytes`),
})
const LoginBody = z.strictObject({
  registry: RegistryHostSchema,
  username: z.string().min(1).max(1024),
  password: z.string().max(MAX_SECRET_BYTES / 2),
})

/**
 * `gary secret create|ls|rm` and `gary login|logout`. A caller can write and remove secrets, and
 * list their names and versions; no route returns a value.
 */
export function secretRoutes(daemon: ClusterApi): Route[] {
  const write = async <T>(run: () => Promise<T>): Promise<T> => {
    refuseWrites(daemon)
    try {
      return await durable(run)
    } catch (err) {
      if (err instanceof SecretsNeedClusterKeyError || err instanceof SecretInUseError)
        throw new ApiRequestError(409, err.message)
      if (err instanceof SecretTooLargeError) throw new ApiRequestError(413, err.message)
      throw err
    }
  }
  return [
    {
      method: 'GET',
      path: '/v1/secrets',
      handle: () => daemon.secrets.list((wall) => isoTime(wall) ?? `${wall} (no such date)`),
    },
    {
      method: 'POST',
      path: '/v1/secrets',
      handle: async ({ body }) => {
        const { name, value } = parse(SecretBody, body)
        const result = await write(() =>
          daemon.secrets.put(name, new Uint8Array(Buffer.from(value, 'base64'))),
        )
        return { name, ...result }
      },
    },
    {
      method: 'DELETE',
      path: '/v1/secrets/:name',
      handle: async ({ params }) => ({
        name: params.name,
        outcome: await write(() => daemon.secrets.remove(params.name!)),
      }),
    },
    {
      method: 'POST',
      path: '/v1/login',
      handle: async ({ body }) => {
        const { registry, username, password } = parse(LoginBody, body)
        return { registry, outcome: await write(() => daemon.secrets.login(registry, username, password)) }
      },
    },
    {
      method: 'DELETE',
      path: '/v1/login/:registry',
      handle: async ({ params }) => ({
        registry: params.registry,
        outcome: await write(() => daemon.secrets.logout(params.registry!)),
      }),
    },
  ]
}
