import { describe, expect, test } from 'vitest'
import {
  FakeRuntime,
  ImagePullError,
  RegistryAuthError,
  refusedForCredentials,
  registryOfImage,
} from '../src/index.js'

describe('registries', () => {
  test('the registry of an image reference is read as Docker reads it', () => {
    expect(registryOfImage('busybox')).toBe('docker.io')
    expect(registryOfImage('library/busybox:1')).toBe('docker.io')
    expect(registryOfImage('ghcr.io/a/b:1')).toBe('ghcr.io')
    expect(registryOfImage('127.0.0.1:5000/x')).toBe('127.0.0.1:5000')
    expect(registryOfImage('localhost/x')).toBe('localhost')
  })

  test("the engine's words for a refused login are told from other pull failures", () => {
    for (const refused of [
      'Head "http://127.0.0.1:41321/v2/private/app/manifests/1": no basic auth credentials',
      'unauthorized: authentication required',
      'Get "https://ghcr.io/v2/": denied: requested access to the resource is denied',
      'unauthorized: incorrect username or password',
    ])
      expect(refusedForCredentials(refused), refused).toBe(true)
    for (const other of [
      'manifest for busybox:nope not found: manifest unknown',
      'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
    ])
      expect(refusedForCredentials(other), other).toBe(false)
  })

  test('the fake pulls from a registry that wants a login only with it, as the engine does', async () => {
    const image = 'registry.example:5000/app:1'
    const runtime = new FakeRuntime({
      images: [],
      registry: [image],
      logins: { 'registry.example:5000': { username: 'u', password: 'p' } },
    })
    const none = await runtime.ensureImage(image).catch((err: Error) => err)
    expect(none).toBeInstanceOf(RegistryAuthError)
    expect(none).toBeInstanceOf(ImagePullError)
    expect((none as Error).name).toBe('RegistryAuthError')
    const wrong = { username: 'u', password: 'x', serveraddress: 'registry.example:5000' }
    await expect(runtime.ensureImage(image, undefined, wrong)).rejects.toBeInstanceOf(RegistryAuthError)
    await runtime.ensureImage(image, undefined, { ...wrong, password: 'p' })
    await runtime.close()
  })
})
