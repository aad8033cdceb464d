// Parses spec files off the daemon's event loop: see spec-parser.ts.
import { parentPort } from 'node:worker_threads'
import { parseWorkloadFile } from '@gary/protocol'

parentPort?.on('message', ({ id, text }: { id: number; text: string }) => {
  parentPort?.postMessage({ id, result: parseWorkloadFile(text) })
})
