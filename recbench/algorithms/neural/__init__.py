"""Neural-network recommenders (torch, the ``deep`` extra): ncf, cluster-ncf, multvae.

torch is imported inside the fitting functions only, so importing this package stays light.
"""
