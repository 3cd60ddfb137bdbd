"""Runs official grpc/grpc Python interop cases one after another in one process, each exactly as
tests/interop/client.py's command line runs it (its own argument parsing, a new channel and stub
for the case; a failure raises and ends the process), closing each case's channel. Prints
`start <case>` and `ok <case>` for the test to follow.
Usage: python3 grpc_interop_client.py <host> <port> <case>...
"""
import sys

from tests.interop import client

host, port, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
for case in cases:
    print('start', case, flush=True)
    sys.argv = ['client.py', '--server_host=' + host, '--server_port=' + port, '--test_case=' + case]
    args = client.parse_interop_client_args()
    channel = client._create_channel(args)
    stub = client.create_stub(channel, args)
    client._test_case_from_arg(args.test_case).test_interoperability(stub, args)
    channel.close()
    print('ok', case, flush=True)
