"""The evidence store on the device's disk: directories, durable writes, read-only files.

The store only ever grows: there is no function here (or anywhere in the agent)
that deletes or rewrites a sealed file. Recovery of files cut by a power loss and
encryption at rest will live here too.
"""
