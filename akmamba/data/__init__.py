"""Training data: normalisation, augmentation, patient-level splits and the torch Dataset."""
