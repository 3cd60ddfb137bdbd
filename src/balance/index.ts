import type { Policy } from '../config/types.ts'
import { LeastRequest, type Pickable, type Picker, RandomPick, RoundRobin } from './picker.ts'

export type { Pickable, Picker } from './picker.ts'

export function createPicker<E extends Pickable>(policy: Policy): Picker<E> {
  switch (policy) {
    case 'round_robin': return new RoundRobin<E>()
    case 'least_request': return new LeastRequest<E>()
    case 'random': return new RandomPick<E>()
    default: throw new Error(`policy ${policy} is not supported yet`)
  }
}
