// The kinds of names a configuration holds: spoke's own names for listeners and upstreams, DNS
// names, SRV port names, header names. Each is a text field that says what is wrong with a value.
import { isIP } from 'node:net'
import { text } from './schema.ts'

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
export const name = text('name: 1 to 63 letters, digits, `.`, `_` or `-`', (s) =>
  NAME.test(s) ? null : `must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit, not ${JSON.stringify(s)}`,
)

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const stripDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s)

function dnsNameProblem(s: string): string | null {
  const fqdn = stripDot(s)
  if (isIP(fqdn) !== 0) return `must be a DNS name, not the IP address ${JSON.stringify(s)}`
  if (fqdn.length === 0 || fqdn.length > 253) return 'must be a DNS name of 1 to 253 characters'
  const labels = fqdn.split('.')
  // Node's resolver applies no search list, so "orders" alone would never resolve in a pod.
  if (labels.length < 2) return `must be a fully qualified name such as "orders.default.svc.cluster.local", not ${JSON.stringify(s)}`
  const bad = labels.find((l) => !DNS_LABEL.test(l))
  if (bad !== undefined) {
    return `label ${JSON.stringify(bad)} must be 1 to 63 lowercase letters, digits or "-", not starting or ending with "-"`
  }
  return null
}
// The trailing dot is dropped: the name goes into Host headers, and queries are FQDN anyway.
export const dnsName = text('fully qualified DNS name', dnsNameProblem, stripDot)

// Kubernetes' IANA_SVC_NAME, which is what a Service's port name (and so its SRV record) can be.
export const portName = text('SRV port name: 1 to 15 lowercase letters, digits or `-`', (s) =>
  /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--')
    ? null
    : `must be an SRV port name (1 to 15 lowercase letters, digits or "-", with a letter, like "http" or "grpc"), not ${JSON.stringify(s)}`,
)

export const headerName = text(
  'HTTP header name',
  (s) => (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s) ? null : `must be an HTTP header name, not ${JSON.stringify(s)}`),
  (s) => s.toLowerCase(),
)
export const nonEmpty = text('string, not empty', (s) => (s.length > 0 ? null : 'must not be empty'))
