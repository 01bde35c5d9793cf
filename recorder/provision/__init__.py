"""The device's side of provisioning (docs/PROVISIONING.md): its keys made on the device, the
enrolment request for the agency, installing the agency's signed bundle, and the rule that
keeps a re-provisioning from orphaning footage no dock has taken."""
