import streamlit as st
st.title('temperature')
st.info('This page is being built.')
