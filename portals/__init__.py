"""portals"""
