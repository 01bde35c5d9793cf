"""The agency's side of provisioning (docs/PROVISIONING.md): its CA, the dock's identity, the
age key the footage is encrypted to, enrolment requests and the signed bundles devices
install. Nothing of the device: the dock uses it too."""
