import streamlit as st
st.title('latent_editor')
st.info('This page is being built.')
