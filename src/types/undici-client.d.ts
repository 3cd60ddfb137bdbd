// undici's Client class on its own (see transport/h1-connection.ts for why not the package root).
declare module 'undici/lib/dispatcher/client.js' {
  import { Client } from 'undici'
  export default Client
}
