"""The simulated body and everything that plays a device in tests and demos.

It ships in the package, as gpiozero ships MockFactory: a synthetic camera and
microphone driven by the agent's clock (`body`), scripted shifts and the fingers
that move MockFactory pins (`script`, `fingers`), test doubles (`doubles`: a
collecting picamera2-style Output, mock pins that log their history on the agent's
clock), and the assembly of a simulated agent (`agent`).
"""
